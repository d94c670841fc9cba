"""The evaluation room's audio and video: an SFU on aiortc, recorded, moderated, watched by supervisors.

See docs/media.md for the topology, the signalling messages, the recording format and the process model.
Issue 7 fills the roster (``operations.add_member``) from the committee and appends its stage changes to
the timeline (``operations.append_timeline(room, "stage", label=...)``).
"""
