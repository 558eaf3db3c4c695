"""Where benchmark scripts record their figures: experiments/results/NAME.json."""
import json
import os

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def default_path(name: str) -> str:
    return os.path.join(RESULTS_DIR, f"{name}.json")


def write_results(results: dict, path: str) -> None:
    """Writes `results` as indented JSON (creating the folder) and says where."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print(f"wrote {path}")
