"""YAML reading with libyaml's C parser when the platform has it (ten times faster than pure Python), and
the base of the strict rule files under */data/."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import yaml
from pydantic import BaseModel, ConfigDict

SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path) -> Any:
    """Parse one YAML file safely (no arbitrary objects)."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=SafeLoader)


class YamlRules(BaseModel):
    """A strict, read-only rule file: unknown keys are an error, values cannot change after loading.
    Subclasses name their file in `source`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: ClassVar[Path]

    @classmethod
    def load(cls, path: Path | None = None) -> Self:
        """Read and validate the rule file (`source` unless another path is given)."""
        return cls.model_validate(load_yaml(path or cls.source))
