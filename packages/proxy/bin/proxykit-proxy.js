#!/usr/bin/env node
// The `proxykit-proxy` command. Package managers link this file at install time, before a
// workspace build has produced dist/, so it stays a stable, committed file that loads the
// built CLI.
import '../dist/cli.js';
