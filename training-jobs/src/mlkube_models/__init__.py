"""Code that logged models need at load time, shipped next to them (MLflow ``code_paths``).

Kept free of any dependency on ``mlkube_train`` so a model server can load the models without the trainers.
"""
