"""Data, FCN models, training, extraction with access keys, and measurement against the bounds."""
