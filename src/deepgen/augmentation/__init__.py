"""The real-versus-synthetic experiment: does adding generated images make a scarce-data classifier better?"""
