# Sourced by scripts that run pinned Python tools.

# python_venv REQUIREMENTS VENV: a virtualenv at VENV holding exactly REQUIREMENTS
# (pinned), made again whenever that file changes.
python_venv() {
    local requirements=$1 venv=$2
    local stamp="$venv/.requirements"
    if ! cmp -s "$requirements" "$stamp"; then
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
        cp "$requirements" "$stamp"
    fi
}
