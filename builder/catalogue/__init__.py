"""The catalogue below the language: every layer type and what is known of it
(`registry`), the signatures read from Keras (`signatures`, with
`signatures.json`), multiply-accumulate formulas (`costs`) and the tables of
pretrained networks (`applications`). Keras-free: importing it imports no
Keras, so `validate` stays quick."""
