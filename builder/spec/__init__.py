"""Reading and checking specs, without Keras: YAML reading (reader), includes
(`extends`, `imports`), overrides (`--set`), the language's models
(language, training, arguments, argtypes, activations), the one translator
from validation errors to SpecErrors (validation), and graph expansion (graph)."""
