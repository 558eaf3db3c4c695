"""hoijax's tests, laid out like the package: tests/<package>/test_<module>.py."""
import os

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
