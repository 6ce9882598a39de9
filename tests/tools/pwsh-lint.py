#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks on PowerShell that tree-sitter-pwsh cannot make (it parses PowerShell 7, and knows no
intent). Nothing here runs PowerShell.

  pwsh-lint.py ps51 FILE...        stay inside Windows PowerShell 5.1: no PowerShell 6/7 syntax
                                   (??, ?., ?[, ternary, && and || chains, a line starting with
                                   |, clean blocks), parameters or cmdlets; ASCII or a UTF-8 BOM
                                   (5.1 reads BOM-less files as ANSI)
  pwsh-lint.py verify FILE...      every scope that runs, expands or copies a file (Start-Process,
                                   Invoke-DsvmInstaller, Expand-Archive, `-File`...) verifies it
                                   first (Test-DsvmArtifact or Get-DsvmArtifact), and every return
                                   of Get-DsvmArtifact follows a Test-DsvmArtifact
  pwsh-lint.py steps FILE          the generated provisioning script's data: every artifact
                                   has a 64-hex Sha256, every exe/msi a silent switch, every
                                   step exit code 0, every msi 3010
  pwsh-lint.py template HCL STEPS  every step that may reboot (STEPS: pwsh-gen's lines) declares
                                   its exit codes and is followed by windows-restart, in order
Each finding is printed as FILE:LINE: text; exit 1 when there is one, 0 when none.
"""

import re
import sys

findings = []


def finding(path, line, text):
    findings.append("%s:%d: %s" % (path, line, text))


def strip_code(text):
    """The text with comments and string contents blanked (newlines kept, so line numbers
    hold): what is left is code. Single and double quoted strings, here-strings, <# #>."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        two = text[i:i + 2]
        if two == "<#":
            j = text.find("#>", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "#":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif two in ("@'", '@"') and text[i + 2:i + 3] in ("\n", "\r"):
            end = "\n" + two[1] + "@"
            j = text.find(end, i + 2)
            j = n if j < 0 else j + len(end)
            out.append("''" + re.sub(r"[^\n]", " ", text[i + 2:j]))
            i = j
        elif c == "'":
            j = i + 1
            while j < n:
                if text[j] == "'" and text[j + 1:j + 2] == "'":
                    j += 2
                elif text[j] == "'":
                    break
                else:
                    j += 1
            out.append("''" + re.sub(r"[^\n]", " ", text[i + 1:j]))
            i = j + 1
        elif c == '"':
            j = i + 1
            while j < n:
                if text[j] == "`":
                    j += 2
                elif text[j] == '"' and text[j + 1:j + 2] == '"':
                    j += 2
                elif text[j] == '"':
                    break
                else:
                    j += 1
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 1:j]))
            i = j + 1
        elif c == "`":
            out.append("  " if text[i + 1:i + 2] != "\n" else " \n")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


# PowerShell 6/7 only. Each: (regex on code with strings and comments blanked, message).
PS7_CODE = [
    (r"\?\?", "'??' (null-coalescing) is PowerShell 7"),
    (r"\?\.|\?\[", "'?.' / '?[' (null-conditional) is PowerShell 7"),
    (r"(?<![\w$])\?\s+[^{]", "'? :' (ternary) is PowerShell 7; '?' as Where-Object is an alias, avoid it"),
    (r"&&|\|\|", "'&&' / '||' pipeline chains are PowerShell 7"),
    (r"^\s*\|", "a line starting with '|' is PowerShell 7"),
    (r"(?i)^\s*clean\s*\{", "a 'clean' block is PowerShell 7.3"),
    (r"(?i)-Parallel\b", "-Parallel is PowerShell 7"),
    (r"(?i)-NoProxy\b", "-NoProxy is PowerShell 6; use System.Net.HttpWebRequest with .Proxy = $null"),
    (r"(?i)-(SkipCertificateCheck|SkipHttpErrorCheck|StatusCodeVariable|ResponseHeadersVariable|"
     r"AsByteStream|AsHashtable|AdditionalChildPath|SslProtocol|Authentication)\b",
     "this parameter is PowerShell 6 or 7"),
    (r"(?i)ConvertFrom-Json\b[^\n|;]*-Depth\b", "ConvertFrom-Json -Depth is PowerShell 6.2"),
    (r"(?i)\b(Join-String|Test-Json|Get-Error|ConvertFrom-Markdown|Get-Uptime|Remove-Alias|"
     r"Get-MarkdownOption|Set-MarkdownOption|Show-Markdown)\b", "this cmdlet is PowerShell 6 or 7"),
    (r"\$PSStyle\b", "$PSStyle is PowerShell 7.2"),
]
PS7_RAW = [
    (r"(?im)^\s*#requires\s+-version\s+([6-9]|\d\d)", "#Requires a PowerShell newer than 5.1"),
    (r"(?im)^\s*#requires\s+-PSEdition\s+Core", "#Requires -PSEdition Core excludes Windows PowerShell"),
]


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def check_ps51(path):
    raw = open(path, "rb").read()
    if not raw.startswith(b"\xef\xbb\xbf") and any(b > 0x7E for b in raw):
        finding(path, 1, "non-ASCII bytes without a UTF-8 BOM: Windows PowerShell 5.1 reads them as ANSI")
    text = raw.decode("utf-8-sig", errors="replace")
    code = strip_code(text)
    for rx, msg in PS7_CODE:
        for m in re.finditer(rx, code, re.M):
            finding(path, line_of(code, m.start()), msg)
    for rx, msg in PS7_RAW:
        for m in re.finditer(rx, text):
            finding(path, line_of(text, m.start()), msg)


def scopes(code):
    """(name, start line, body) for every function, and 'main' for code outside them."""
    result, main = [], []
    pos = 0
    for m in re.finditer(r"(?im)^function\s+([\w-]+)\s*\{", code):
        if m.start() < pos:
            continue
        main.append(code[pos:m.start()])
        depth, j = 0, m.end() - 1
        while j < len(code):
            if code[j] == "{":
                depth += 1
            elif code[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        result.append((m.group(1), line_of(code, m.start()), code[m.start():j + 1]))
        main.append("\n" * code[m.start():j + 1].count("\n"))
        pos = j + 1
    main.append(code[pos:])
    result.append(("main", 1, "".join(main)))
    return result


# Helpers that use a file by definition; every caller must have verified it first.
SINK_HELPERS = {"Invoke-DsvmInstaller", "Expand-DsvmArchive", "Copy-DsvmPayload"}
SINKS = r"(?i)\b(Start-Process|Invoke-DsvmInstaller|Expand-DsvmArchive|Expand-Archive|Copy-DsvmPayload)\b|\s-File\s"
VERIFY = r"\b(Test-DsvmArtifact|Get-DsvmArtifact)\b"


def check_verify(path):
    text = open(path, encoding="utf-8-sig").read()
    code = strip_code(text)
    for name, start, body in scopes(code):
        if name in SINK_HELPERS:
            continue
        body_code = re.sub(r"(?im)^function\s+[\w-]+", "", body, count=1)
        first_sink = re.search(SINKS, body_code)
        if first_sink:
            verify = re.search(VERIFY, body_code)
            if not verify or verify.start() > first_sink.start():
                finding(path, start + body_code.count("\n", 0, first_sink.start()),
                        "%s uses a file (%s) before verifying it" % (name, first_sink.group(0).strip()))
        if name == "Get-DsvmArtifact":
            last = 0
            for m in re.finditer(r"\breturn\b", body_code):
                if not re.search(r"\bTest-DsvmArtifact\b", body_code[last:m.start()]):
                    finding(path, start + body_code.count("\n", 0, m.start()),
                            "Get-DsvmArtifact returns a path without Test-DsvmArtifact before it")
                last = m.end()
    if "function Test-DsvmArtifact" in code:
        body = [b for n, _, b in scopes(code) if n == "Test-DsvmArtifact"][0]
        for need in ("Get-FileHash", "Test-DsvmSigner", "$Artifact.Sealed"):
            if need not in body:
                finding(path, 1, "Test-DsvmArtifact does not call %s" % need)


SILENT = {"/S", "/s", "-s", "/VERYSILENT", "/quiet", "/qn", "-install"}  # lib/pwsh.c is_silent_switch


def check_steps(path):
    text = open(path, encoding="utf-8-sig").read()
    m = re.search(r"(?m)^\$DsvmSteps = @\(\n(.*?)^\)\n", text, re.S)
    if not m:
        finding(path, 1, "no $DsvmSteps data block")
        return 0
    base = line_of(text, m.start(1))
    steps = re.split(r"(?m)^    @\{\n", m.group(1))[1:]
    offset = 0
    for st in steps:
        def field(key):
            f = re.search(r"(?m)^        %s = (.*)$" % key, st)
            return f.group(1) if f else None
        name, kind, action = field("Name"), field("Kind"), field("Action")
        line = base + offset
        offset += st.count("\n") + 1
        args = re.findall(r"'((?:[^']|'')*)'", field("Args") or "")
        codes = [int(c) for c in re.findall(r"-?\d+", field("ValidExitCodes") or "")]
        unattended = field("Unattended")
        if kind in ("'exe'", "'msi'") and not SILENT.intersection(args):
            if action == "'install'":
                finding(path, line, "step %s (%s) installs without a silent switch: %s" % (name, kind, args))
            elif unattended != "$false":
                finding(path, line, "staged step %s (%s) has no silent switch but is not marked Unattended = $false" % (name, kind))
        elif unattended != "$true":
            finding(path, line, "step %s is not marked Unattended = $true" % name)
        if 0 not in codes:
            finding(path, line, "step %s does not accept exit code 0" % name)
        if kind == "'msi'" and action == "'install'" and 3010 not in codes:
            finding(path, line, "msi step %s does not pass 3010 (reboot required) on" % name)
        arts = re.findall(r"@\{ Name = .*?; Sha256 = '([^']*)'; Size = \d+; Sealed = \$(true|false)", st)
        if not arts:
            finding(path, line, "step %s has no artifact with Sha256, Size and Sealed" % name)
        for sha, sealed in arts:
            if sealed == "true" and not re.fullmatch(r"[0-9a-f]{64}", sha):
                finding(path, line, "step %s has a sealed artifact without a 64-hex sha256" % name)
    return len(steps)


def check_template(path, steps_path):
    hcl = open(path).read()
    blocks = [(b.group(1), line_of(hcl, b.start()), b.start()) for b in
              re.finditer(r'(?m)^\s*provisioner\s+"([\w-]+)"\s*\{', hcl)]
    seen = 0
    for line in open(steps_path):
        parts = line.split()
        if len(parts) != 6:
            continue
        name, may_reboot, codes = parts[1], parts[4] == "1", parts[5].split(",")
        idx = None
        for k, (kind, _, pos) in enumerate(blocks):
            end = blocks[k + 1][2] if k + 1 < len(blocks) else len(hcl)
            if kind == "powershell" and re.search(r"-Step '%s'" % re.escape(name), hcl[pos:end]):
                idx = k
                break
        if idx is None:
            finding(path, 1, "no powershell provisioner runs step %s" % name)
            continue
        if idx < seen:
            finding(path, blocks[idx][1], "step %s runs out of lock order" % name)
        seen = idx
        if not may_reboot:
            continue
        kind, bline, pos = blocks[idx]
        end = blocks[idx + 1][2] if idx + 1 < len(blocks) else len(hcl)
        vm = re.search(r"valid_exit_codes\s*=\s*\[([^\]]*)\]", hcl[pos:end])
        declared = [c.strip() for c in vm.group(1).split(",")] if vm else []
        if not vm or any(c not in declared for c in codes):
            finding(path, bline, "step %s may reboot but does not declare valid_exit_codes %s" % (name, codes))
        if idx + 1 >= len(blocks) or blocks[idx + 1][0] != "windows-restart":
            finding(path, bline, "step %s may reboot but is not followed by windows-restart" % name)


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    mode, files = sys.argv[1], sys.argv[2:]
    if mode == "ps51":
        for f in files:
            check_ps51(f)
    elif mode == "verify":
        for f in files:
            check_verify(f)
    elif mode == "steps":
        for f in files:
            check_steps(f)
    elif mode == "template" and len(files) == 2:
        check_template(files[0], files[1])
    else:
        raise SystemExit(__doc__)
    for line in findings:
        print(line)
    sys.exit(1 if findings else 0)


main()
