#!/bin/bash
# Start this lab host's own dockerd and keep it in the foreground.
set -u
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
exec dockerd --storage-driver=overlay2 --host=unix:///var/run/docker.sock >>/var/log/dockerd.log 2>&1
