"""The reference's own numbers (anchors) and the Table 1 cells that cannot be run here.

Quotations of Hofer et al. (ICML 2019): the numbers saved in the notebooks of their
``c-hofer/COREL_icml2019`` repository. Anchors, not facts this book measured.
"""

from typing import Any

#: Cells of the paper's Table 1 that cannot be run offline (data not obtainable).
UNOBTAINABLE = ("cifar20", "cifar100", "imagenet")

#: The command that runs the CIFAR / ImageNet rows (needs the data and a GPU).
CIFAR_COMMAND = "TOPOSHAPE_DATA=<data root> make reproduce CHAPTER=oneclass PROFILE=cifar"


#: The authors' own numbers (AUROC × 100, λ = 20, 5 draws, mean over classes), read from
#: the notebooks saved in ``c-hofer/COREL_icml2019``. Anchors, not facts we measured.
ANCHORS: dict[str, Any] = {
    "source": "Hofer et al. (ICML 2019), notebooks saved in the COREL_icml2019 repository",
    "table1": {  # backbone -> eval -> AUROC at n = 120
        "cifar10": {
            "cifar10": 75.96,
            "cifar20": 72.31,
            "cifar100": 79.39,
            "tinyimagenet": 72.57,
            "imagenet": 72.24,
        },
        "cifar100": {
            "cifar10": 75.49,
            "cifar20": 72.64,
            "cifar100": 79.83,
            "tinyimagenet": 72.23,
            "imagenet": 72.11,
        },
        "tinyimagenet": {
            "cifar10": 74.42,
            "cifar20": 71.67,
            "cifar100": 78.76,
            "tinyimagenet": 72.84,
            "imagenet": 71.98,
        },
    },
    "by_n": {  # (backbone, eval) -> {n: AUROC}
        "cifar100→cifar10": {"80": 74.43, "120": 75.49, "500": 77.01},
        "cifar10→cifar20": {"80": 71.08, "120": 72.31, "500": 73.83},
        "cifar100→cifar100": {"80": 78.98, "120": 79.83, "500": 81.35},
        "cifar10→imagenet": {"80": 71.53, "120": 72.24, "500": 73.72},
    },
    "lambda": {
        "pair": "cifar100→cifar10",
        "n": 120,
        "values": {"0": 54.67, "1": 70.92, "10": 75.45, "20": 76.00, "40": 74.76},
    },
    "lambda_large_n": {
        "pair": "cifar100→cifar10",
        "n": 5000,
        "values": {"0": 54.52, "1": 72.81, "10": 77.49, "20": 78.06, "40": 77.16},
    },
    "radius": {
        "pair": "cifar100→cifar10",
        "n": 120,
        "values": {"1": 54.96, "1.5": 72.10, "2": 76.00, "2.25": 76.36, "3": 74.58, "5": 66.07},
    },
    "single_branch": {"pair": "cifar100→cifar10", "n": 120, "lam20": 63.30, "lam0": 50.0},
}
