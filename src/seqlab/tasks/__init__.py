"""User-facing tasks: train / predict / evaluate / save / load.

Every task subclasses :class:`seqlab.tasks.base.Task` (see ``docs/architecture.md``);
:func:`seqlab.load` finds a model directory's task by the name in its ``config.json``.
"""

from seqlab.data.parallel import ParallelCorpus
from seqlab.tasks.base import Preset, Task, TaskConfig, load_task, registered_tasks
from seqlab.tasks.captioner import Captioner, CaptionerConfig
from seqlab.tasks.classifier import Classifier, ClassifierTaskConfig, LabelledData
from seqlab.tasks.language_model import LanguageModel, LMTaskConfig, SentenceScore
from seqlab.tasks.music import MusicConfig, MusicModel
from seqlab.tasks.speech import SpeechConfig, SpeechRecognizer
from seqlab.tasks.tagger import Tagger, TaggerConfig
from seqlab.tasks.translator import Translator, TranslatorConfig
from seqlab.tasks.wake import WakeConfig, WakeWord

__all__ = [
    "Captioner",
    "CaptionerConfig",
    "Classifier",
    "ClassifierTaskConfig",
    "LMTaskConfig",
    "LabelledData",
    "LanguageModel",
    "MusicConfig",
    "MusicModel",
    "ParallelCorpus",
    "Preset",
    "SentenceScore",
    "SpeechConfig",
    "SpeechRecognizer",
    "Tagger",
    "TaggerConfig",
    "Task",
    "TaskConfig",
    "Translator",
    "TranslatorConfig",
    "WakeConfig",
    "WakeWord",
    "load_task",
    "registered_tasks",
]
