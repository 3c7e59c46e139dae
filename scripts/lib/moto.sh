# shellcheck shell=bash
# Sourced by scripts: start the local AWS emulator (moto, through the launcher that corrects
# one moto bug) on 127.0.0.1 on a free port, wait until a real AWS call succeeds, and stop it by
# its process id when the calling script exits. Exports AWS_ENDPOINT_URL and dummy credentials.
moto_start() {
  local py=.venv/bin/python port
  port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$py" tests/support/moto_launcher.py -H 127.0.0.1 -p "$port" >"${MOTO_LOG:-/dev/null}" 2>&1 &
  MOTO_PID=$!
  trap 'kill "$MOTO_PID" 2>/dev/null' EXIT
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
         AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  unset AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION
  for _ in $(seq 1 300); do
    if "$py" -c 'import boto3, os; boto3.client("autoscaling", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="eu-west-3").describe_auto_scaling_groups()' 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  echo "error: the local AWS emulator did not start (see ${MOTO_LOG:-its log})" >&2
  return 1
}
