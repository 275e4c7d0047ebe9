"""Data, FCN and conv models, training, extraction with access keys, and measurement against the bounds.

Sub-packages by concern (dependencies point one way, enforced by ``tests/test_imports.py``):
``nets`` (data, models, training, checkpoints) ← ``lock`` (ranking, extraction, keys, sweeps, utility,
the lock/unlock workflow) and ``measure`` (disparities against the bounds) ← ``experiments`` (grid,
Table 1, paper widths, reports) ← ``cli``. The names below are the public API.
``empirical.measure`` is the measurement sub-package: ``from empirical.measure import measure``.
"""

from empirical.errors import UserError as UserError
from empirical.lock.extraction import AccessKey as AccessKey
from empirical.lock.extraction import extract as extract
from empirical.lock.ratio import n_extracted as n_extracted
from empirical.lock.sweep import top_accuracy as top_accuracy
from empirical.measure.conv import measure_net as measure_net
from empirical.measure.core import Measurement as Measurement
from empirical.nets.checkpoint import load_checkpoint as load_checkpoint
from empirical.nets.checkpoint import save_checkpoint as save_checkpoint
from empirical.nets.convnets import make_conv as make_conv
from empirical.nets.data import load_dataset as load_dataset
from empirical.nets.data import load_fashion_mnist as load_fashion_mnist
from empirical.nets.data import load_mnist as load_mnist
from empirical.nets.data import normalize as normalize
from empirical.nets.data import test_set_for as test_set_for
from empirical.nets.models import FCN as FCN
from empirical.nets.models import make_fcn as make_fcn
from empirical.nets.models import make_model as make_model
from empirical.nets.train import RunOptions as RunOptions
from empirical.nets.train import TrainSpec as TrainSpec
from empirical.nets.train import accuracy as accuracy
from empirical.nets.train import train as train
