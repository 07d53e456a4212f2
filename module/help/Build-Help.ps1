#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Compiles the markdown help sources (one <Cmdlet>.md per cmdlet) into MAML: <ModuleDir>/en-US/RegPS.dll-Help.xml.
.DESCRIPTION
    platyPS is not available here, so this is RegPS's own small compiler. The text (synopsis, description, parameter
    descriptions, examples, notes) comes from the markdown; the syntax (parameter sets, types, positions, pipeline
    input, aliases, wildcards) comes from the built cmdlets themselves, so the two cannot drift apart.
    Markdown layout:
        # Verb-Noun
        ## SYNOPSIS
        ## DESCRIPTION
        ## PARAMETERS        then one "### -Name" section per parameter
        ## EXAMPLES          then "### Example N: title", a ```powershell block, and remarks
        ## NOTES             (optional)
    A parameter's "Default value" is read from a new instance of the cmdlet (the property's initial value), or from a
    line "Default value: ..." in its section when the real default needs words (e.g. "the preset's"), which wins.
    It fails when a cmdlet has no help file, a parameter has no description, an example has no remarks, or the help
    says a parameter has no default when the cmdlet gives it one, so help can never silently go missing or be wrong.
#>
param(
    [Parameter(Mandatory)] [string] $ModuleDir,
    [Parameter(Mandatory)] [string] $HelpSource
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

$NS = @{
    maml    = 'http://schemas.microsoft.com/maml/2004/10'
    command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
    dev     = 'http://schemas.microsoft.com/maml/dev/2004/10'
}
$common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters

function Read-HelpMarkdown([string] $file) {
    $doc = [ordered]@{ Synopsis = ''; Description = ''; Parameters = @{}; Defaults = @{}; Examples = [System.Collections.Generic.List[object]]::new(); Notes = '' }
    $section = ''; $sub = ''; $buf = [System.Text.StringBuilder]::new()
    $inCode = $false
    $flush = {
        $text = $buf.ToString().Trim()
        switch ($section) {
            'SYNOPSIS' { $doc.Synopsis = $text }
            'DESCRIPTION' { $doc.Description = $text }
            'NOTES' { $doc.Notes = $text }
            'PARAMETERS' {
                if ($sub) {
                    $name = $sub.TrimStart('-')
                    $d = [regex]::Match($text, '(?m)^Default value:\s*(.+?)\s*$')
                    if ($d.Success) {
                        $doc.Defaults[$name] = $d.Groups[1].Value
                        $text = $text.Remove($d.Index, $d.Length).Trim()
                    }
                    $doc.Parameters[$name] = $text
                }
            }
            'EXAMPLES' {
                if ($sub) {
                    $m = [regex]::Match($text, '(?s)```powershell\s*\n(.*?)\n```\s*(.*)')
                    if (-not $m.Success) { throw "${file}: example '$sub' has no ``````powershell code block." }
                    $doc.Examples.Add([pscustomobject]@{ Title = $sub; Code = $m.Groups[1].Value.TrimEnd(); Remarks = $m.Groups[2].Value.Trim() })
                }
            }
        }
        $null = $buf.Clear()
    }
    foreach ($line in Get-Content $file) {
        if ($line.StartsWith('```')) { $inCode = -not $inCode }
        if (-not $inCode -and $line -match '^## (\w+)') { & $flush; $section = $Matches[1].ToUpperInvariant(); $sub = ''; continue }
        if (-not $inCode -and $line -match '^### (.+)$') { & $flush; $sub = $Matches[1].Trim(); continue }
        if (-not $inCode -and $line -match '^# ') { continue }
        $null = $buf.AppendLine($line)
    }
    & $flush
    return $doc
}

function Write-Paras($w, [string] $text) {
    foreach ($p in ($text -split '\r?\n\s*\r?\n')) {
        if ($p.Trim()) { $w.WriteElementString('maml', 'para', $NS.maml, ($p -replace '\s*\r?\n\s*', ' ').Trim()) }
    }
}

function Get-TypeName([type] $t) {
    if ($t -eq [System.Management.Automation.SwitchParameter]) { return 'SwitchParameter' }
    $n = $t.Name
    if ($t.IsGenericType -and $t.GetGenericTypeDefinition() -eq [Nullable`1]) { $n = $t.GetGenericArguments()[0].Name }
    return $n
}

function Get-PipelineText($attr) {
    $kinds = @()
    if ($attr.ValueFromPipeline) { $kinds += 'ByValue' }
    if ($attr.ValueFromPipelineByPropertyName) { $kinds += 'ByPropertyName' }
    if ($kinds) { return "True ($($kinds -join ', '))" } else { return 'False' }
}

function Get-DefaultText($instance, [string] $name) {
    # The parameter property's value on a new cmdlet object: what the cmdlet uses when the parameter is not given.
    # Null, empty strings and empty arrays mean there is none.
    $prop = $instance.GetType().GetProperty($name)
    if ($null -eq $prop) { return $null }
    $v = $prop.GetValue($instance)
    if ($null -eq $v) { return $null }
    if ($v -is [System.Management.Automation.SwitchParameter]) { return [string] $v.IsPresent }
    if ($v -is [string]) { if ($v) { return $v } else { return $null } }
    if ($v -is [System.Collections.IEnumerable]) {
        $items = @($v)
        if ($items.Count -eq 0) { return $null }
        return ($items | ForEach-Object { [System.Convert]::ToString($_, [cultureinfo]::InvariantCulture) }) -join ', '
    }
    return [System.Convert]::ToString($v, [cultureinfo]::InvariantCulture)
}

function Write-Parameter($w, $param, $attr, [string] $description, [bool] $inSyntax, [string] $default = 'None') {
    $w.WriteStartElement('command', 'parameter', $NS.command)
    $w.WriteAttributeString('required', $attr.Mandatory.ToString().ToLowerInvariant())
    $w.WriteAttributeString('variableLength', ($param.ParameterType.IsArray).ToString().ToLowerInvariant())
    $globbing = [bool] ($param.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
    $w.WriteAttributeString('globbing', $globbing.ToString().ToLowerInvariant())
    $w.WriteAttributeString('pipelineInput', (Get-PipelineText $attr))
    $w.WriteAttributeString('position', $(if ($attr.Position -ge 0) { [string] $attr.Position } else { 'named' }))
    $w.WriteAttributeString('aliases', $(if ($param.Aliases.Count) { $param.Aliases -join ', ' } else { 'none' }))
    $w.WriteElementString('maml', 'name', $NS.maml, $param.Name)
    if (-not $inSyntax) {
        $w.WriteStartElement('maml', 'description', $NS.maml); Write-Paras $w $description; $w.WriteEndElement()
    }
    $typeName = Get-TypeName $param.ParameterType
    if ($param.ParameterType -ne [System.Management.Automation.SwitchParameter]) {
        $w.WriteStartElement('command', 'parameterValue', $NS.command)
        $w.WriteAttributeString('required', 'true')
        $w.WriteAttributeString('variableLength', 'false')
        $w.WriteString($typeName)
        $w.WriteEndElement()
    }
    if (-not $inSyntax) {
        $w.WriteStartElement('dev', 'type', $NS.dev); $w.WriteElementString('maml', 'name', $NS.maml, $param.ParameterType.FullName); $w.WriteEndElement()
        $w.WriteElementString('dev', 'defaultValue', $NS.dev, $default)
    }
    $w.WriteEndElement()
}

$manifest = Join-Path $ModuleDir 'RegPS.psd1'
$module = Import-Module $manifest -PassThru -Force
$commands = Get-Command -Module $module.Name -CommandType Cmdlet | Sort-Object Name
$outDir = Join-Path $ModuleDir 'en-US'
$null = New-Item -ItemType Directory -Path $outDir -Force
$outFile = Join-Path $outDir 'RegPS.dll-Help.xml'

$settings = [System.Xml.XmlWriterSettings]::new()
$settings.Indent = $true
$settings.Encoding = [System.Text.UTF8Encoding]::new($false)
$w = [System.Xml.XmlWriter]::Create($outFile, $settings)
$w.WriteStartDocument()
$w.WriteStartElement('helpItems', 'http://msh')
$w.WriteAttributeString('schema', 'maml')
foreach ($p in 'maml', 'command', 'dev') { $w.WriteAttributeString('xmlns', $p, 'http://www.w3.org/2000/xmlns/', $NS[$p]) }
$problems = @()
foreach ($cmd in $commands) {
    $file = Join-Path $HelpSource "$($cmd.Name).md"
    if (-not (Test-Path $file)) { $problems += "$($cmd.Name): no help source $file"; continue }
    $doc = Read-HelpMarkdown $file
    if (-not $doc.Synopsis) { $problems += "$($cmd.Name): empty SYNOPSIS" }
    if ($doc.Examples.Count -eq 0) { $problems += "$($cmd.Name): no example" }
    $params = $cmd.Parameters.Values | Where-Object { $_.Name -notin $common } | Sort-Object Name
    foreach ($p in $params) { if (-not $doc.Parameters[$p.Name]) { $problems += "$($cmd.Name): parameter -$($p.Name) has no description" } }
    foreach ($k in $doc.Parameters.Keys) { if ($k -notin $params.Name) { $problems += "$($cmd.Name): help describes -$k, which the cmdlet does not have" } }
    foreach ($ex in $doc.Examples) { if (-not $ex.Remarks) { $problems += "$($cmd.Name): '$($ex.Title)' has no remarks (say what it does and what it returns)" } }
    $instance = [System.Activator]::CreateInstance($cmd.ImplementingType)
    $defaults = @{}
    foreach ($p in $params) {
        $fromCode = Get-DefaultText $instance $p.Name
        $fromDoc = $doc.Defaults[$p.Name]
        if ($fromDoc -eq 'None' -and $null -ne $fromCode) { $problems += "$($cmd.Name): -$($p.Name) says 'Default value: None' but defaults to $fromCode" }
        $defaults[$p.Name] = if ($fromDoc) { $fromDoc } elseif ($null -ne $fromCode) { $fromCode } else { 'None' }
    }

    $w.WriteStartElement('command', 'command', $NS.command)
    $w.WriteStartElement('command', 'details', $NS.command)
    $w.WriteElementString('command', 'name', $NS.command, $cmd.Name)
    $w.WriteElementString('command', 'verb', $NS.command, $cmd.Verb)
    $w.WriteElementString('command', 'noun', $NS.command, $cmd.Noun)
    $w.WriteStartElement('maml', 'description', $NS.maml); Write-Paras $w $doc.Synopsis; $w.WriteEndElement()
    $w.WriteEndElement()
    $w.WriteStartElement('maml', 'description', $NS.maml); Write-Paras $w $doc.Description; $w.WriteEndElement()

    $w.WriteStartElement('command', 'syntax', $NS.command)
    foreach ($set in $cmd.ParameterSets) {
        $w.WriteStartElement('command', 'syntaxItem', $NS.command)
        $w.WriteElementString('maml', 'name', $NS.maml, $cmd.Name)
        foreach ($sp in ($set.Parameters | Where-Object { $_.Name -notin $common } | Sort-Object @{ e = { if ($_.Position -ge 0) { $_.Position } else { 1000 } } }, Name)) {
            $full = $cmd.Parameters[$sp.Name]
            $attr = [pscustomobject]@{ Mandatory = $sp.IsMandatory; Position = $sp.Position; ValueFromPipeline = $sp.ValueFromPipeline; ValueFromPipelineByPropertyName = $sp.ValueFromPipelineByPropertyName }
            Write-Parameter $w $full $attr '' $true
        }
        $w.WriteEndElement()
    }
    $w.WriteEndElement()

    $w.WriteStartElement('command', 'parameters', $NS.command)
    foreach ($p in $params) {
        $a = $p.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] } | Select-Object -First 1
        $attr = [pscustomobject]@{ Mandatory = [bool] ($p.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] -and $_.Mandatory }); Position = $a.Position; ValueFromPipeline = $a.ValueFromPipeline; ValueFromPipelineByPropertyName = $a.ValueFromPipelineByPropertyName }
        Write-Parameter $w $p $attr ([string] $doc.Parameters[$p.Name]) $false $defaults[$p.Name]
    }
    $w.WriteEndElement()

    $w.WriteStartElement('command', 'inputTypes', $NS.command)
    $inputs = $params | Where-Object { $_.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] -and ($_.ValueFromPipeline -or $_.ValueFromPipelineByPropertyName) } }
    foreach ($p in $inputs) {
        $w.WriteStartElement('command', 'inputType', $NS.command)
        $w.WriteStartElement('dev', 'type', $NS.dev); $w.WriteElementString('maml', 'name', $NS.maml, $p.ParameterType.FullName); $w.WriteEndElement()
        $w.WriteStartElement('maml', 'description', $NS.maml); Write-Paras $w "Bound to -$($p.Name)."; $w.WriteEndElement()
        $w.WriteEndElement()
    }
    $w.WriteEndElement()
    $w.WriteStartElement('command', 'returnValues', $NS.command)
    foreach ($t in $cmd.OutputType) {
        $w.WriteStartElement('command', 'returnValue', $NS.command)
        $w.WriteStartElement('dev', 'type', $NS.dev); $w.WriteElementString('maml', 'name', $NS.maml, $t.Name); $w.WriteEndElement()
        $w.WriteEndElement()
    }
    $w.WriteEndElement()
    if ($doc.Notes) {
        $w.WriteStartElement('maml', 'alertSet', $NS.maml); $w.WriteStartElement('maml', 'alert', $NS.maml); Write-Paras $w $doc.Notes; $w.WriteEndElement(); $w.WriteEndElement()
    }
    $w.WriteStartElement('command', 'examples', $NS.command)
    foreach ($ex in $doc.Examples) {
        $w.WriteStartElement('command', 'example', $NS.command)
        $w.WriteElementString('maml', 'title', $NS.maml, "-------------------------- $($ex.Title) --------------------------")
        $w.WriteElementString('dev', 'code', $NS.dev, $ex.Code)
        $w.WriteStartElement('dev', 'remarks', $NS.dev); Write-Paras $w $ex.Remarks; $w.WriteEndElement()
        $w.WriteEndElement()
    }
    $w.WriteEndElement()
    $w.WriteEndElement()
}
$w.WriteEndElement()
$w.WriteEndDocument()
$w.Dispose()
if ($problems) {
    Remove-Item $outFile
    throw "Help is incomplete:`n  " + ($problems -join "`n  ")
}
Write-Host "Help for $($commands.Count) cmdlets written to $outFile"
