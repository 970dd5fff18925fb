"""Forecasting models: base protocols, the registry, and one module per model family.

Importing this package imports none of the models (and so no torch, prophet or xgboost):
:func:`marketcast.models.registry.get_model` loads a model's module when it is asked for.
"""
