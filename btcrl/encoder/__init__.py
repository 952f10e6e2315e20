"""A pre-trained market encoder: a masked autoencoder over windows of feature rows.

``model`` holds the torch module, ``windows`` cuts windows from a FeatureSet, ``pretrain``
trains it (pure: no MLflow), ``plot`` draws its reconstruction of a held-out window,
``extractor`` lets an SB3 policy read observations through it.
"""
