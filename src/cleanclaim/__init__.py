"""cleanclaim"""
