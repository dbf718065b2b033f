"""What the project's NLU components share: configured, not trained."""
from __future__ import annotations

from typing import Any, Dict

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage


class ConfiguredComponent(GraphComponent):
    """A graph component built from its config alone; training data passes through."""

    def __init__(self, config: Dict[str, Any]) -> None:
        """Merges the config over the component's defaults."""
        self.config = {**self.get_default_config(), **config}

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "ConfiguredComponent":
        """Creates the component (see GraphComponent.create)."""
        return cls(config)

    def process_training_data(self, training_data: Any) -> Any:
        """Nothing to learn: the configuration is the model."""
        return training_data
