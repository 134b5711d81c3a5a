"""Static analyzer of PyTorch model source: rebuilds ``named_modules()`` without running the model."""

__version__ = "0.1.0"
