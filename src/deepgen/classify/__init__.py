"""Classifiers: one registry (deepgen.registry.register_classifier), one training loop (fit.fit) and one predict
(fit.predict), used by the evaluator, CAS, and the augmentation experiment. `zoo.build_classifier` builds one."""
