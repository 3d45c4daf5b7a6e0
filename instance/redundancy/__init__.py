"""The redundancy program, an app of its own (label `redundancy`): automated copies of videos,
served as extra webseeds and announced to the tracker as seeders.

models.py: strategies and copies; check.py: which files get a copy; lifecycle.py: a copy's
changes of state; download.py, verify.py, seeding.py: fetching, re-verifying and announcing a copy;
tasks.py: the Celery tasks. The catalogue (instance.models, views, api, torrents, player) never
imports this app: it lists a file's copies through instance.webseeds, which apps.py fills.
"""

# What the node's requests (Range downloads from the origin, announces to the tracker) send as
# User-Agent.
USER_AGENT = "peerveil-redundancy/0.1"
