"""The pure prediction core: the feature contract, the model card, the predictor.

Nothing here knows about HTTP or telemetry; it imports numpy, scipy, lightgbm and the
standard library only.
"""
