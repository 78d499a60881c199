"""The judge stage: unit metrics → criteria, verdicts, comparison, ranking, recommendation, failures.

``criteria.py`` computes a criterion's value (a point estimate or, from replicates, its
distribution) and decides pass / fail / inconclusive; ``build.py`` assembles ``Results`` with
bootstrap intervals; ``compare.py`` pairs candidates with the baseline, ranks and recommends;
``readings.py`` derives what the report shows beside the numbers (margins, what would change a
decision, significance words); ``failures.py`` mines the failure gallery; ``results.py`` is the
shape of ``results.json``, the judge's output and the report's only input.
"""
