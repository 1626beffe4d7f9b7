"""Evaluations of a trained model beyond the trainer's own eval loss: exact match on verifiable answers."""
