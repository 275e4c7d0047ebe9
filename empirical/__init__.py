"""Data, FCN and conv models, training, extraction with access keys, and measurement against the bounds."""

from empirical.checkpoint import load_checkpoint as load_checkpoint
from empirical.checkpoint import save_checkpoint as save_checkpoint
from empirical.convnets import make_conv as make_conv
from empirical.data import load_dataset as load_dataset
from empirical.data import load_fashion_mnist as load_fashion_mnist
from empirical.data import load_mnist as load_mnist
from empirical.data import normalize as normalize
from empirical.data import test_set_for as test_set_for
from empirical.errors import UserError as UserError
from empirical.extraction import AccessKey as AccessKey
from empirical.extraction import extract as extract
from empirical.measure import Measurement as Measurement
from empirical.measure import measure as measure
from empirical.measure_net import measure_net as measure_net
from empirical.models import FCN as FCN
from empirical.models import make_fcn as make_fcn
from empirical.models import make_model as make_model
from empirical.ratio import n_extracted as n_extracted
from empirical.sweep import top_accuracy as top_accuracy
from empirical.train import RunOptions as RunOptions
from empirical.train import TrainSpec as TrainSpec
from empirical.train import accuracy as accuracy
from empirical.train import train as train
