"""Files in and out: export to deployment formats, import of Keras models as
specs, plots, the JSON Schema and the generated layer reference."""
