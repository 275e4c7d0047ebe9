"""The networks: data, FCN and conv models, training, checkpoints, and importing a user's state dict.

Depends on ``bounds`` and the shared ``empirical.errors`` / ``empirical._io`` only.
"""
