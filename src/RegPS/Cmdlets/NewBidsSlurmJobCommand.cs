using System.Diagnostics;
using System.Globalization;
using System.Management.Automation;
using System.Text;
using RegPS.Engine.Common;
using RegPS.Engine.Pipelines;
using RegPS.Engine.Registration;

namespace RegPS.Cmdlets;

/// <summary>
/// Writes a SLURM job array that runs Invoke-BidsRegistration over a dataset: the list of inputs (sorted, fixed when the
/// job is made), a PowerShell task script that registers one task's share of that list with SLURM_CPUS_PER_TASK engine
/// threads and records each outcome under the derivatives' logs folder, and the sbatch script that starts it. The files
/// land in &lt;OutputRoot&gt;/code/ (BIDS derivatives keep their code there); -Submit also runs sbatch. Submitting the same
/// script again finishes only what is missing: up-to-date subjects are skipped.
/// </summary>
[Cmdlet(VerbsCommon.New, "BidsSlurmJob", SupportsShouldProcess = true, DefaultParameterSetName = "Path")]
[OutputType(typeof(BidsSlurmJob))]
public sealed class NewBidsSlurmJobCommand : BidsDatasetCmdlet
{
    /// <summary>The template file (NIfTI) every task reads, e.g. the path Get-RegTemplate returns from the TemplateFlow cache.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string TemplatePath { get; set; } = "";

    /// <summary>Cores per array task (sbatch --cpus-per-task); each task runs its subjects one after another on that many engine threads.</summary>
    [Parameter]
    [ValidateRange(1, 1024)]
    public int CpusPerTask { get; set; } = 4;

    /// <summary>Inputs per array task (default 1: one task per input).</summary>
    [Parameter]
    [ValidateRange(1, 100000)]
    public int SubjectsPerTask { get; set; } = 1;

    /// <summary>At most this many tasks run at once (sbatch --array=0-N%limit); 0 = no limit.</summary>
    [Parameter]
    [ValidateRange(0, 100000)]
    public int MaxConcurrentTasks { get; set; }

    /// <summary>sbatch --mem, e.g. 4G (per task).</summary>
    [Parameter]
    public string? Memory { get; set; }

    /// <summary>sbatch --time, e.g. 02:00:00 (per task).</summary>
    [Parameter]
    public string? TimeLimit { get; set; }

    [Parameter]
    public string? Partition { get; set; }

    [Parameter]
    public string? Account { get; set; }

    /// <summary>Further sbatch options, one per #SBATCH line, e.g. '--qos=short'.</summary>
    [Parameter]
    public string[]? SbatchOption { get; set; }

    /// <summary>The job's name and the stem of its files; default regps-&lt;TemplateName&gt;.</summary>
    [Parameter]
    [ValidatePattern("^[A-Za-z0-9._-]+$")]
    public string? JobName { get; set; }

    /// <summary>How the nodes start PowerShell 7, e.g. 'pwsh' or '/opt/dotnet/dotnet /opt/pwsh/pwsh.dll'; default: the PowerShell running this command.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? PwshCommand { get; set; }

    /// <summary>The RegPS module the nodes import (a path to RegPS.psd1, or a module name); default: the module running this command.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ModulePath { get; set; }

    /// <summary>Also run sbatch on the script and return the job id.</summary>
    [Parameter]
    public SwitchParameter Submit { get; set; }

    private readonly List<string> _inputs = new();

    protected override void ProcessRecord()
    {
        bool literal = ParameterSetName == "LiteralPath";
        foreach (var file in ResolveInputPaths(literal ? LiteralPath : Path, literal))
            _inputs.Add(file);
    }

    protected override void EndProcessing()
    {
        var inputs = _inputs.Distinct(StringComparer.Ordinal).OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (inputs.Count == 0)
        {
            WriteError(new ErrorRecord(new ArgumentException("No input files: give the T1w images of the dataset (-Path, or pipe Get-ChildItem)."),
                "NoInputs", ErrorCategory.InvalidArgument, null));
            return;
        }
        string root, template;
        try
        {
            root = ResolveOutputPath(OutputRoot);
            template = ResolveOutputPath(TemplatePath);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            ThrowTerminatingError(new ErrorRecord(e, "InvalidPath", ErrorCategory.InvalidArgument, OutputRoot));
            return;
        }
        if (!File.Exists(template))
            ThrowTerminatingError(new ErrorRecord(new FileNotFoundException($"The template '{template}' does not exist; every task reads it, so it must be on storage the nodes share (Get-RegTemplate caches TemplateFlow templates).", template),
                "TemplateNotFound", ErrorCategory.ObjectNotFound, template));
        foreach (var f in inputs)
        {
            // Only names are checked here; an unreadable file is that subject's failure when its task runs.
            try { BidsName.Parse(f); }
            catch (ArgumentException e)
            {
                WriteWarning($"'{f}' is not a BIDS name ({e.Message}); its task will report it as failed.");
            }
        }

        var name = JobName ?? "regps-" + TemplateName;
        var code = System.IO.Path.Combine(root, "code");
        var logs = System.IO.Path.Combine(root, "logs");
        var job = new BidsSlurmJob
        {
            Name = name,
            OutputRoot = root,
            Script = System.IO.Path.Combine(code, name + ".sbatch"),
            TaskScript = System.IO.Path.Combine(code, name + ".ps1"),
            InputList = System.IO.Path.Combine(code, name + ".inputs.txt"),
            LogDirectory = logs,
            SlurmLogDirectory = System.IO.Path.Combine(logs, "slurm"),
            Inputs = inputs.Count,
            SubjectsPerTask = SubjectsPerTask,
            Tasks = (inputs.Count + SubjectsPerTask - 1) / SubjectsPerTask,
            CpusPerTask = CpusPerTask,
        };
        var module = ModulePath is null ? DefaultModule() : (File.Exists(ResolveOutputPath(ModulePath)) ? ResolveOutputPath(ModulePath) : ModulePath);
        var pwsh = PwshCommand ?? DefaultPwsh();

        if (!ShouldProcess(job.Script, $"Write a SLURM array of {job.Tasks} task(s) ({job.Inputs} input(s), {SubjectsPerTask} per task, {CpusPerTask} CPU(s) each) registering to {TemplateName}" + (Submit ? ", and submit it" : "")))
            return;
        try
        {
            Directory.CreateDirectory(code);
            Directory.CreateDirectory(job.SlurmLogDirectory);
            var version = typeof(NewBidsSlurmJobCommand).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
            AtomicFile.Write(job.InputList, true, s => s.Write(Encoding.UTF8.GetBytes(string.Join("\n", inputs) + "\n")));
            AtomicFile.Write(job.TaskScript, true, s => s.Write(Encoding.UTF8.GetBytes(TaskScript(job, module, template, version))));
            AtomicFile.Write(job.Script, true, s => s.Write(Encoding.UTF8.GetBytes(SbatchScript(job, pwsh, version))));
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(job.Script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                    UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            ThrowTerminatingError(new ErrorRecord(e, "JobNotWritten", ErrorCategory.WriteError, job.Script));
        }
        WriteVerbose($"Wrote {job.Script}, {job.TaskScript} and {job.InputList}");
        if (Submit) job.JobId = SubmitJob(job.Script);
        WriteObject(job);
    }

    /// <summary>Runs sbatch --parsable on the script; returns the job id.</summary>
    private string SubmitJob(string script)
    {
        var psi = new ProcessStartInfo("sbatch") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("--parsable");
        psi.ArgumentList.Add(script);
        Process p;
        try { p = Process.Start(psi) ?? throw new InvalidOperationException("sbatch did not start."); }
        catch (System.ComponentModel.Win32Exception e)
        {
            ThrowTerminatingError(new ErrorRecord(new InvalidOperationException($"Cannot run sbatch ({e.Message}): is SLURM installed here? The job is written; submit it with: sbatch {script}", e),
                "SbatchNotFound", ErrorCategory.ObjectNotFound, script));
            return "";
        }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            var output = stdout.Result.Trim();
            if (p.ExitCode != 0)
                ThrowTerminatingError(new ErrorRecord(new InvalidOperationException($"sbatch {script} failed (exit code {p.ExitCode}): {stderr.Trim()}"),
                    "SbatchFailed", ErrorCategory.InvalidResult, script));
            // --parsable prints "jobid" or "jobid;cluster".
            var id = output.Split('\n')[^1].Split(';')[0].Trim();
            WriteVerbose($"Submitted job {id}");
            return id;
        }
    }

    private string DefaultModule()
    {
        var dir = MyInvocation.MyCommand.Module?.ModuleBase ?? System.IO.Path.GetDirectoryName(typeof(NewBidsSlurmJobCommand).Assembly.Location)!;
        var psd1 = System.IO.Path.Combine(dir, "RegPS.psd1");
        return File.Exists(psd1) ? psd1 : System.IO.Path.Combine(dir, "RegPS.dll");
    }

    /// <summary>The PowerShell running now: its own executable, or dotnet with pwsh.dll for the dotnet tool (`dotnet pwsh`).</summary>
    private string DefaultPwsh()
    {
        var process = Environment.ProcessPath ?? "pwsh";
        var psHome = (string)SessionState.PSVariable.GetValue("PSHOME");
        var dll = System.IO.Path.Combine(psHome, "pwsh.dll");
        bool isDotnet = System.IO.Path.GetFileNameWithoutExtension(process).Equals("dotnet", StringComparison.OrdinalIgnoreCase);
        return isDotnet && File.Exists(dll) ? Bash(process) + " " + Bash(dll) : Bash(process);
    }

    /// <summary>A word for bash: single-quoted unless it is plainly safe.</summary>
    internal static string Bash(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || "/._-+=:@,".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";

    /// <summary>A PowerShell single-quoted string.</summary>
    internal static string Ps(string s) => "'" + s.Replace("'", "''") + "'";

    private string SbatchScript(BidsSlurmJob job, string pwsh, string version)
    {
        var b = new StringBuilder();
        b.Append("#!/bin/bash\n");
        b.Append(CultureInfo.InvariantCulture, $"# Written by New-BidsSlurmJob (RegPS {version}): registers the {job.Inputs} input(s) listed in\n");
        b.Append(CultureInfo.InvariantCulture, $"# {job.InputList} to {TemplateName}, {job.SubjectsPerTask} per array task.\n");
        b.Append("# Submit with sbatch; submit again to finish what is missing (subjects already done are skipped).\n");
        b.Append(CultureInfo.InvariantCulture, $"#SBATCH --job-name={job.Name}\n");
        b.Append(CultureInfo.InvariantCulture, $"#SBATCH --array=0-{job.Tasks - 1}{(MaxConcurrentTasks > 0 ? "%" + MaxConcurrentTasks.ToString(CultureInfo.InvariantCulture) : "")}\n");
        b.Append(CultureInfo.InvariantCulture, $"#SBATCH --cpus-per-task={job.CpusPerTask}\n");
        b.Append("#SBATCH --ntasks=1\n");
        b.Append(CultureInfo.InvariantCulture, $"#SBATCH --output={Quote(System.IO.Path.Combine(job.SlurmLogDirectory, "%x_%A_%a.out"))}\n");
        if (Memory is not null) b.Append(CultureInfo.InvariantCulture, $"#SBATCH --mem={Memory}\n");
        if (TimeLimit is not null) b.Append(CultureInfo.InvariantCulture, $"#SBATCH --time={TimeLimit}\n");
        if (Partition is not null) b.Append(CultureInfo.InvariantCulture, $"#SBATCH --partition={Partition}\n");
        if (Account is not null) b.Append(CultureInfo.InvariantCulture, $"#SBATCH --account={Account}\n");
        foreach (var o in SbatchOption ?? Array.Empty<string>()) b.Append(CultureInfo.InvariantCulture, $"#SBATCH {o}\n");
        b.Append(CultureInfo.InvariantCulture, $"exec {pwsh} -NoProfile -NonInteractive -File {Bash(job.TaskScript)}\n");
        return b.ToString();
    }

    /// <summary>An #SBATCH value: double-quoted when it has a space.</summary>
    private static string Quote(string s) => s.Contains(' ') ? "\"" + s + "\"" : s;

    private string TaskScript(BidsSlurmJob job, string module, string template, string version)
    {
        var args = new List<string>
        {
            "-Template $template",
            "-TemplateName " + Ps(TemplateName),
            "-OutputRoot " + Ps(job.OutputRoot),
            "-LogDirectory " + Ps(job.LogDirectory),
            "-MaxDegreeOfParallelism $Threads",
        };
        if (Mode != RegistrationMode.Syn) args.Add("-Mode " + Mode);
        if (SynPreset != SynPreset.Default) args.Add("-SynPreset " + SynPreset);
        if (LevelIterations is not null) args.Add("-LevelIterations " + string.Join(", ", LevelIterations.Select(i => i.ToString(CultureInfo.InvariantCulture))));
        if (AffineLevelIterations is not null) args.Add("-AffineLevelIterations " + string.Join(", ", AffineLevelIterations.Select(i => i.ToString(CultureInfo.InvariantCulture))));
        if (AntsParts) args.Add("-AntsParts");
        var k = job.SubjectsPerTask.ToString(CultureInfo.InvariantCulture);
        return $$"""
            # Written by New-BidsSlurmJob (RegPS {{version}}): one task of the SLURM array {{job.Name}} ({{job.Script}}).
            # Task $Task registers lines $Task*{{k}}+1 to $Task*{{k}}+{{k}} of the input list, one after another, each on $Threads
            # engine threads (SLURM_CPUS_PER_TASK); subjects already up to date are skipped, so a rerun finishes what is missing.
            # The template is read from its file: nothing is downloaded. Each outcome is recorded in the logs folder
            # (Get-BidsRegistrationSummary reads it); the task exits 1 when a subject failed.
            param(
                [int] $Task = $env:SLURM_ARRAY_TASK_ID,
                [int] $Threads = $(if ($env:SLURM_CPUS_PER_TASK) { $env:SLURM_CPUS_PER_TASK } else { 0 })
            )
            $ErrorActionPreference = 'Stop'
            Import-Module {{Ps(module)}}
            $inputs = @(Get-Content -LiteralPath {{Ps(job.InputList)}} | Where-Object { $_ })
            $mine = @($inputs | Select-Object -Skip ($Task * {{k}}) -First {{k}})
            if ($mine.Count -eq 0) { Write-Output "Task $Task has no inputs (the list has $($inputs.Count))."; exit 0 }
            $template = Get-NiftiImage -LiteralPath {{Ps(template)}}
            Write-Output "Task $Task on $([Environment]::MachineName): $($mine.Count) input(s), $Threads engine thread(s)"
            $results = Invoke-BidsRegistration -LiteralPath $mine {{string.Join(" ", args)}} -ErrorAction Continue -Verbose
            $results | ForEach-Object { $_.ToString() }
            if (@($results | Where-Object Status -EQ 'Failed').Count -gt 0 -or @($results).Count -lt $mine.Count) { exit 1 }

            """.Replace("\r\n", "\n");
    }
}

/// <summary>A SLURM job array written by New-BidsSlurmJob: its files, its shape and, once submitted, its id.</summary>
public sealed class BidsSlurmJob
{
    public string Name { get; init; } = "";

    /// <summary>The sbatch script (submit it with: sbatch &lt;Script&gt;).</summary>
    public string Script { get; init; } = "";

    /// <summary>The PowerShell script each array task runs.</summary>
    public string TaskScript { get; init; } = "";

    /// <summary>The inputs, one full path a line, sorted; task t takes lines t*SubjectsPerTask+1 onwards.</summary>
    public string InputList { get; init; } = "";

    public string OutputRoot { get; init; } = "";

    /// <summary>Where each input's outcome is recorded (Get-BidsRegistrationSummary -LogDirectory).</summary>
    public string LogDirectory { get; init; } = "";

    /// <summary>Where SLURM writes each task's output (&lt;Name&gt;_&lt;job&gt;_&lt;task&gt;.out).</summary>
    public string SlurmLogDirectory { get; init; } = "";

    public int Inputs { get; init; }
    public int SubjectsPerTask { get; init; }
    public int Tasks { get; init; }
    public int CpusPerTask { get; init; }

    /// <summary>The SLURM job id when submitted with -Submit, else null.</summary>
    public string? JobId { get; set; }

    public override string ToString() => $"{Name}: {Tasks} task(s) x {CpusPerTask} CPU(s), {Inputs} input(s)" + (JobId is null ? $"; sbatch {Script}" : $"; job {JobId}");
}
