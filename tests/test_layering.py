"""The package layering of docs/design.md §3 holds in the code: every `hoijax.*` import
(function-level ones included), read with `ast`, goes to the package's own row or a lower
one, and no two packages import each other."""
import ast
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "hoijax")


def layering_table() -> dict:
    """{package: row} from the table under **Layering** in docs/design.md."""
    with open(os.path.join(ROOT, "docs", "design.md"), encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("**Layering**"):]
    rows = {}
    for row, cells in re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.M):
        for name in re.findall(r"`(\w+)`", cells):
            rows[name] = int(row)
    return rows


def package_of(module: str) -> str:
    """'hoijax.recon.fit' -> 'recon'; 'hoijax.train_prior' -> 'train_prior'."""
    return module.split(".")[1]


def imports() -> list:
    """(importing module, imported hoijax module) for every import in hoijax/."""
    edges = []
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
            module = module.removesuffix(".__init__")
            for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    targets = ([f"hoijax.{a.name}" for a in node.names]
                               if node.module == "hoijax" else [node.module])
                elif isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                else:
                    continue
                edges += [(module, t) for t in targets if t.startswith("hoijax.")]
    return edges


def test_the_table_names_every_package():
    rows = layering_table()
    packages = {n[:-3] if n.endswith(".py") else n for n in os.listdir(PACKAGE)
                if (n.endswith(".py") and n != "__init__.py")
                or os.path.isfile(os.path.join(PACKAGE, n, "__init__.py"))
                or n == "models"}
    assert packages - set(rows) == set(), "packages missing from the layering table"


def test_imports_go_down_the_table():
    rows = layering_table()
    wrong = sorted({(a, b) for a, b in imports()
                    if package_of(a) != package_of(b)
                    and rows[package_of(b)] >= rows[package_of(a)]})
    assert wrong == [], "imports up or across the layering table: " + ", ".join(
        f"{a} -> {b}" for a, b in wrong)
