"""User-facing tasks: train / predict / evaluate / save / load.

Every task subclasses :class:`seqlab.tasks.base.Task` (see ``docs/architecture.md``);
:func:`seqlab.load` finds a model directory's task by the name in its ``config.json``.
"""

from seqlab.data.parallel import ParallelCorpus
from seqlab.tasks.base import Preset, Task, TaskConfig, load_task, registered_tasks
from seqlab.tasks.classifier import Classifier, ClassifierTaskConfig, LabelledData
from seqlab.tasks.language_model import LanguageModel, LMTaskConfig, SentenceScore
from seqlab.tasks.tagger import Tagger, TaggerConfig
from seqlab.tasks.translator import Translator, TranslatorConfig

__all__ = [
    "Classifier",
    "ClassifierTaskConfig",
    "LMTaskConfig",
    "LabelledData",
    "LanguageModel",
    "ParallelCorpus",
    "Preset",
    "SentenceScore",
    "Tagger",
    "TaggerConfig",
    "Task",
    "TaskConfig",
    "Translator",
    "TranslatorConfig",
    "load_task",
    "registered_tasks",
]
