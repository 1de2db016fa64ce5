"""The Discord edge of articlebot: turns Discord events into questions for ``index`` and
renders its platform-neutral ``Answer`` as Discord messages."""
