"""Torch code of the bed family: the seed paper's LSTM population forecaster."""
