"""Checkout shim: ``python cli.py inspect model.tflite`` runs the tflkit CLI from a clone."""

from tflkit.cli import main

if __name__ == "__main__":
    main()
