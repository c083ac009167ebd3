"""Looking at the code itself.
"""
