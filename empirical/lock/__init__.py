"""CoreLocker itself: ranking units by importance, extraction, access keys and signatures, nested sweeps,
the ratio for a target utility, and the lock/unlock workflow on files.

Depends on ``empirical.nets`` (never on ``empirical.measure``).
"""
