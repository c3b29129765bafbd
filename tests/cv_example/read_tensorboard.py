"""Prints the scalars of a TensorBoard log directory as TensorBoard itself reads them.

usage: read_tensorboard.py LOGDIR
Output: one JSON object, {tag: [[step, value], ...]}, from the tensorboard package's
EventAccumulator (which checks each record's CRCs and drops what fails them).
"""
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

accumulator = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
accumulator.Reload()
print(json.dumps({tag: [[event.step, event.value] for event in accumulator.Scalars(tag)]
                  for tag in accumulator.Tags()["scalars"]}))
