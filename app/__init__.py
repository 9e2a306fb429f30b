"""data-service: JSON records per user over REST."""

__version__ = "0.1.0"
