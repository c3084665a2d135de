"""python -m coordtok.dataset tokenize ... (the coordtok-dataset command)"""
import sys

from .cli import main

sys.exit(main())
