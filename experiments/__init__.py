"""Reproducible experiments; ``arms/`` holds the paper's arms as schedule files."""
