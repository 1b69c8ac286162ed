"""The panel's shipped files (frontend/), and nothing else."""

import importlib.resources

CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def frontend_files():
    """`{relative name: Traversable}` of the shipped panel files; nothing else is ever served."""
    root = importlib.resources.files("tb_attention.frontend")
    files = {}

    def walk(node, prefix):
        for child in node.iterdir():
            name = prefix + child.name
            if child.is_dir():
                walk(child, name + "/")
            elif child.name.endswith(tuple(CONTENT_TYPES)):
                files[name] = child

    if root.is_dir():
        walk(root, "")
    return files


def content_type(name):
    return CONTENT_TYPES["." + name.rsplit(".", 1)[-1]]
