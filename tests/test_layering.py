"""The package structure of docs/design.md §3 holds in the code: every `hoijax.*` import
(function-level ones included), read with `ast`, goes to the package's own row or a lower
one, and no two packages import each other; imports inside functions say why; no function
is longer than 60 lines."""
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


def function_level_imports() -> list:
    """(module path, line, imported module, the comment above its block or '')."""
    found = []
    for folder, _, files in os.walk(PACKAGE):
        for name in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(folder, name)
            lines = open(path, encoding="utf-8").read().splitlines()
            tree = ast.parse("\n".join(lines))
            for fn in ast.walk(tree):
                if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(fn):
                    if not isinstance(node, (ast.Import, ast.ImportFrom)):
                        continue
                    target = (node.module if isinstance(node, ast.ImportFrom)
                              else node.names[0].name)
                    above = node.lineno - 2  # up the block of imports to its comment
                    while above >= 0 and (lines[above].strip() == "" or lines[above].strip()
                                          .startswith(("import ", "from "))):
                        above -= 1
                    comment = lines[above].strip() if above >= 0 else ""
                    found.append((os.path.relpath(path, ROOT), node.lineno, target,
                                  comment if comment.startswith("#") else ""))
    return found


def test_function_level_imports_say_why():
    """Only optional or slow dependencies and the entry points' lazy imports (which keep
    `--help` fast) are imported inside functions, each block under a comment saying why."""
    silent = [f"{p}:{n} ({t})" for p, n, t, why in function_level_imports() if not why]
    assert silent == [], "function-level imports without a reason: " + ", ".join(silent)


def test_only_entry_points_import_hoijax_inside_functions():
    """Library modules import hoijax at the top, so that an import cycle fails at once."""
    rows = layering_table()
    top = max(rows.values())
    inner = [f"{p}:{n} ({t})" for p, n, t, _ in function_level_imports()
             if t and t.startswith("hoijax") and not p.endswith("__main__.py")
             and rows[package_of(p[:-3].replace(os.sep, "."))] != top]
    assert inner == [], "library code importing hoijax inside functions: " + ", ".join(inner)


def test_no_function_is_longer_than_60_lines():
    """Short functions: split a longer one into named steps."""
    long = []
    for folder, _, files in os.walk(PACKAGE):
        for name in (f for f in files if f.endswith(".py")):
            path = os.path.join(folder, name)
            for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
                if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                        and node.end_lineno - node.lineno + 1 > 60):
                    long.append(f"{os.path.relpath(path, ROOT)}:{node.lineno} {node.name}")
    assert long == [], "functions over 60 lines: " + ", ".join(long)
