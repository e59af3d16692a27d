import os
import sys

# make tests/loss_reference.py (and other test helpers) importable regardless of the rootdir pytest picks
sys.path.insert(0, os.path.dirname(__file__))
