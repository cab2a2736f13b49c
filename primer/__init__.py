"""The course package of "A primer on ML/DL with a focus on Neuroscience".

Datasets for the notebooks live in :mod:`primer.data`; the hub helpers in
:mod:`primer.hub`; the ``primer`` command line in :mod:`primer.cli`.
"""

__version__ = "0.1.0"
