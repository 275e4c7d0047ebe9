"""What every experiment shares: run directories (``rundir``), the registry of experiments (``registry``), the
executors, statistics, presets, command-line argument types, Markdown tables, the bound-claim verdicts, the
validation of every table a report reads (``validate``) and the grid run's tables (``tables``)."""
