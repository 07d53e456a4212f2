using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.Pipelines;
using RegPS.Engine.Registration;
using RegPS.Rendering;

namespace RegPS.Cmdlets;

/// <summary>
/// Registers every T1w image of a BIDS dataset to a template and writes BIDS derivatives (the image in template space,
/// its sidecar, the transform, QC pictures), resumably: up-to-date subjects are skipped. BOLD runs (_bold inputs) are
/// motion-corrected in the space of the run instead (BoldPipeline): corrected series, confounds table, motion plot. Subjects run on worker tasks,
/// -ThrottleLimit at once; their progress and results are written on the pipeline thread. The logic lives in
/// RegPS.Engine.Pipelines; this cmdlet binds parameters, schedules workers and reports.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "BidsRegistration", SupportsShouldProcess = true, DefaultParameterSetName = "Path")]
[OutputType(typeof(SubjectResult))]
public sealed class InvokeBidsRegistrationCommand : BidsDatasetCmdlet, IDisposable
{
    [Parameter(Mandatory = true)]
    public Image Template { get; set; } = null!;

    [Parameter]
    [ValidateRange(0, 1024)]
    public int MaxDegreeOfParallelism { get; set; }

    [Parameter]
    [ValidateRange(1, 256)]
    public int ThrottleLimit { get; set; } = 1;

    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Also record each input's outcome (status, error, metrics, host, SLURM task) as JSON in this folder, for Get-BidsRegistrationSummary.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? LogDirectory { get; set; }

    private const int DatasetActivity = 1;
    private const string Activity = "Invoke-BidsRegistration";

    // The subjects run on the pump's workers; their progress and results are handled on the pipeline thread.
    private WorkPump _pump = null!;
    private readonly HashSet<string> _scheduled = new(StringComparer.Ordinal);
    private readonly IQualityPictures _pictures = new QualityPictures();
    private System.Runtime.InteropServices.PosixSignalRegistration? _sigterm;
    private string? _logDir;
    private volatile bool _signalled;
    private PipelineSettings _settings = null!;
    private string _root = "";
    private string _version = "0.0.0";
    private bool _descriptionChecked;
    private SubjectProgress?[] _slots = Array.Empty<SubjectProgress?>();
    private bool[] _dirty = Array.Empty<bool>();
    private int _received, _finished, _registered, _skipped, _failed;
    private DateTime _lastProgress = DateTime.MinValue;

    protected override void BeginProcessing()
    {
        _pump = new WorkPump(StopToken);
        _version = typeof(InvokeBidsRegistrationCommand).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
        if (Template.Dimension != 3)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-Template must be a 3D image; got {Template}."),
                "InvalidTemplate", ErrorCategory.InvalidArgument, Template));
        if (LevelIterations is not null && LevelIterations.Any(n => n < 0))
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-LevelIterations takes counts of zero or more."),
                "InvalidLevelIterations", ErrorCategory.InvalidArgument, LevelIterations));
        if (AffineLevelIterations is not null && AffineLevelIterations.Any(n => n < 1))
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-AffineLevelIterations takes counts of one or more."),
                "InvalidAffineLevelIterations", ErrorCategory.InvalidArgument, AffineLevelIterations));
        try { _root = ResolveOutputPath(OutputRoot); }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            ThrowTerminatingError(new ErrorRecord(e, "InvalidOutputRoot", ErrorCategory.InvalidArgument, OutputRoot));
        }
        RemoveStaleTemporaries(_root, recursive: true); // left by a run that was killed
        if (LogDirectory is not null) _logDir = ResolveOutputPath(LogDirectory);
        // SIGTERM (scancel, a node shutting down, kill): cancel the running subjects so they remove what they wrote,
        // then let the process end as it would have.
        if (!OperatingSystem.IsWindows())
            _sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, _ => CancelOnSignal());
        // Subjects x threads stay within the cores: each of ThrottleLimit subjects gets its share unless told otherwise.
        int threads = MaxDegreeOfParallelism > 0 ? MaxDegreeOfParallelism : Math.Max(1, Environment.ProcessorCount / ThrottleLimit);
        var affine = new AffineOptions();
        if (AffineLevelIterations is { } levels)
        {
            // The finest levels of the default pyramid: one value = factor 1 only, two = factors 2 and 1, and so on.
            affine = affine with
            {
                LevelIterations = levels,
                Sigmas = affine.Sigmas[^levels.Length..],
                Factors = affine.Factors[^levels.Length..],
                SampleCounts = affine.SampleCounts[^levels.Length..],
            };
        }
        var syn = SynOptions.For(SynPreset);
        if (LevelIterations is not null) syn = syn with { LevelIterations = LevelIterations };
        WriteVerbose($"Hashing the template ({Template})");
        _settings = new PipelineSettings
        {
            TemplateName = TemplateName,
            TemplateHash = ContentHash.OfImage(Template),
            TemplateSource = Template.SourcePath,
            Mode = Mode,
            Affine = affine,
            Syn = syn,
            MaxDegreeOfParallelism = threads,
            Version = _version,
        };
        WriteVerbose($"{ThrottleLimit} subject(s) at once, {threads} engine thread(s) each; parameters {_settings.ParameterHash[..12]}: {_settings.CanonicalParameters()}");
        _slots = new SubjectProgress?[ThrottleLimit];
        _dirty = new bool[ThrottleLimit];
    }

    protected override void ProcessRecord()
    {
        bool literal = ParameterSetName == "LiteralPath";
        try
        {
            foreach (var file in ResolveInputPaths(literal ? LiteralPath : Path, literal))
            {
                _received++;
                SubjectOutputs outputs;
                BoldOutputs? bold = null;
                try
                {
                    var parsed = BidsName.Parse(file);
                    if (parsed.Suffix == "bold")
                    {
                        bold = BoldOutputs.For(parsed, _root);
                        outputs = null!;
                    }
                    else outputs = SubjectOutputs.For(parsed, _root, TemplateName, Mode, AntsParts);
                }
                catch (ArgumentException e)
                {
                    WriteError(new ErrorRecord(e, "InvalidBidsName", ErrorCategory.InvalidArgument, file));
                    Finished(SubjectStatus.Failed);
                    var failed = new SubjectResult("", null, file, SubjectStatus.Failed, Array.Empty<string>(), TimeSpan.Zero, e.Message, e);
                    Record(failed);
                    WriteObject(failed);
                    continue;
                }
                if (bold is not null)
                {
                    if (!_scheduled.Add(bold.Sidecar))
                    {
                        WriteError(new ErrorRecord(new ArgumentException($"'{file}' has the same outputs as an input already given to this command ({bold.Relative(bold.Sidecar)}); it is left out."),
                            "DuplicateSubject", ErrorCategory.InvalidArgument, file));
                        _received--;
                        continue;
                    }
                    if (!ShouldProcess(file, $"Motion-correct the BOLD run and write its derivatives under {_root}"))
                    {
                        _received--;
                        continue;
                    }
                    EnsureDatasetDescription(BidsSources.RawRoot(bold.Name));
                    while (_pump.Running >= ThrottleLimit) Pump(block: true);
                    StartBold(bold);
                    Pump(block: false);
                    continue;
                }
                if (!_scheduled.Add(outputs.Sidecar))
                {
                    WriteError(new ErrorRecord(new ArgumentException($"'{file}' has the same outputs as an input already given to this command ({outputs.Relative(outputs.Sidecar)}); it is left out."),
                        "DuplicateSubject", ErrorCategory.InvalidArgument, file));
                    _received--;
                    continue;
                }
                if (!ShouldProcess(file, $"Register to {TemplateName} ({Mode}) and write its derivatives under {_root}"))
                {
                    _received--;
                    continue;
                }
                EnsureDatasetDescription(BidsSources.RawRoot(outputs.Name));
                while (_pump.Running >= ThrottleLimit) Pump(block: true);
                Start(outputs);
                Pump(block: false);
            }
        }
        catch
        {
            _pump.StopWorkers();
            throw;
        }
    }

    protected override void EndProcessing()
    {
        try
        {
            while (_pump.Running > 0) Pump(block: true);
        }
        catch
        {
            _pump.StopWorkers();
            throw;
        }
        if (_received > 0)
            WriteProgress(new ProgressRecord(DatasetActivity, Activity, DatasetStatus()) { RecordType = ProgressRecordType.Completed });
    }

    public void Dispose()
    {
        _sigterm?.Dispose();
        _pump?.Dispose();
    }

    private void EnsureDatasetDescription(string? rawRoot)
    {
        if (_descriptionChecked) return;
        try
        {
            if (DatasetDescription.EnsureExists(_root, _version, rawRoot))
                WriteVerbose($"Wrote {System.IO.Path.Combine(_root, DatasetDescription.FileName)}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            ThrowTerminatingError(new ErrorRecord(e, "OutputRootNotWritable", ErrorCategory.WriteError, _root));
        }
        _descriptionChecked = true;
    }

    private void Start(SubjectOutputs outputs)
    {
        var who = "sub-" + outputs.Name.Subject + (outputs.Name.Session is null ? "" : "_ses-" + outputs.Name.Session);
        var settings = _settings;
        var template = Template;
        bool force = Force;
        var pictures = _pictures;
        StartSubject(who, outputs.Name, (progress, token) => SubjectPipeline.Run(outputs, template, settings, pictures, force, progress, token));
    }

    /// <summary>Starts the motion correction of a BOLD run on a worker (BoldPipeline), in a free slot.</summary>
    private void StartBold(BoldOutputs outputs)
    {
        var who = "sub-" + outputs.Name.Subject + (outputs.Name.Session is null ? "" : "_ses-" + outputs.Name.Session) + (outputs.Name["task"] is { } task ? "_task-" + task : "");
        var options = new MotionCorrectionOptions { MaxDegreeOfParallelism = _settings.MaxDegreeOfParallelism };
        var version = _version;
        bool force = Force;
        var pictures = (IMotionPictures)_pictures;
        StartSubject(who, outputs.Name, (progress, token) => BoldPipeline.Run(outputs, options, version, pictures, force, progress, token));
    }

    /// <summary>
    /// Runs one input's pipeline on a worker in a free slot; its progress updates the slot's bar and its result is
    /// written, on the pipeline thread.
    /// </summary>
    private void StartSubject(string who, BidsName name, Func<IProgress<SubjectProgress>, CancellationToken, SubjectResult> run)
    {
        int slot = Array.FindIndex(_slots, s => s is null);
        _slots[slot] = new SubjectProgress(who, "queued", 0);
        _dirty[slot] = true;
        var progress = _pump.Reporter<SubjectProgress>(p => OnProgress(slot, p));
        SubjectResult? result = null;
        _pump.Start(token => result = run(progress, token), error =>
            // The pipelines report their own failures; an exception here is only a safety net so a worker never dies silently.
            OnDone(slot, result ?? new SubjectResult(name.Subject, name.Session, name.Path, SubjectStatus.Failed,
                Array.Empty<string>(), TimeSpan.Zero, error?.Message ?? "no result", error)));
    }

    /// <summary>Handles the workers' reports on the pipeline thread: one at least when <paramref name="block"/>, then all queued.</summary>
    private void Pump(bool block)
    {
        _pump.Drain(block);
        FlushProgress(force: false);
    }

    private void OnProgress(int slot, SubjectProgress p)
    {
        if (_slots[slot] is null) return; // a late report of a finished subject
        _slots[slot] = p;
        _dirty[slot] = true;
        if (p.Message is { } line) WriteVerbose(line);
    }

    private void OnDone(int slot, SubjectResult r)
    {
        var who = _slots[slot]?.Subject ?? r.Subject;
        _slots[slot] = null;
        _dirty[slot] = false;
        WriteProgress(new ProgressRecord(SlotActivity(slot), who, "done") { ParentActivityId = DatasetActivity, RecordType = ProgressRecordType.Completed });
        Finished(r.Status);
        FlushProgress(force: true);
        if (r.Status == SubjectStatus.Failed && r.Error is { } error)
            WriteInputError(error, "SubjectFailed", r.Input);
        Record(r);
        WriteObject(r);
    }

    private void Finished(SubjectStatus status)
    {
        _finished++;
        switch (status)
        {
            case SubjectStatus.Registered: _registered++; break;
            case SubjectStatus.Skipped: _skipped++; break;
            default: _failed++; break;
        }
    }

    private string DatasetStatus() =>
        $"{_finished} of {_received} subjects received done: {_registered} registered, {_skipped} skipped, {_failed} failed; {_pump.Running} running";

    private static int SlotActivity(int slot) => DatasetActivity + 1 + slot;

    /// <summary>Writes the dataset bar and the running subjects' bars, at most ten times a second unless forced.</summary>
    private void FlushProgress(bool force)
    {
        if (!force && (DateTime.UtcNow - _lastProgress).TotalMilliseconds < 100) return;
        _lastProgress = DateTime.UtcNow;
        int percent = _received == 0 ? 0 : (int)(100L * _finished / _received);
        WriteProgress(new ProgressRecord(DatasetActivity, Activity, DatasetStatus()) { PercentComplete = percent });
        for (int i = 0; i < _slots.Length; i++)
        {
            if (!_dirty[i] || _slots[i] is not { } s) continue;
            _dirty[i] = false;
            WriteProgress(new ProgressRecord(SlotActivity(i), s.Subject, s.Status)
            {
                ParentActivityId = DatasetActivity,
                PercentComplete = Math.Clamp(s.PercentComplete, 0, 100),
            });
        }
    }

    /// <summary>Writes the -LogDirectory record of a result; a record that cannot be written is a warning, not a failure.</summary>
    private void Record(SubjectResult r)
    {
        // After SIGTERM nothing is recorded: a subject stopped by the signal is not an outcome, and stays "not done".
        if (_logDir is null || _signalled) return;
        var path = SubjectRecord.PathFor(_logDir, r.Input, TemplateName);
        try { SubjectRecord.From(r, TemplateName, _root, DateTime.UtcNow).Write(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteWarning($"Could not write the record '{path}': {e.Message}");
        }
    }

    /// <summary>On SIGTERM: cancels the running subjects and waits (up to 20 s) for them to remove their partial outputs.</summary>
    private void CancelOnSignal()
    {
        _signalled = true;
        if (_pump is not { } pump) return;
        pump.Cancel();
        pump.Wait(TimeSpan.FromSeconds(20));
    }

    /// <summary>The QC pictures, drawn as Export-StereoOverlay -Layout ThreePanel and Export-DeformationGrid -Underlay do.</summary>
    private sealed class QualityPictures : IQualityPictures, IMotionPictures
    {
        public void WriteMotionPlot(MotionCorrectionResult result, string path)
        {
            var options = new MotionPlotOptions
            {
                RepetitionTime = double.IsFinite(result.RepetitionTime) ? result.RepetitionTime : 0,
                Title = result.FileName,
            };
            MotionPlot.WritePng(result.Parameters, path, options, overwrite: true);
        }

        public void WriteOverlay(Image template, Image registered, string path)
        {
            var (s, m) = ExportStereoOverlayCommand.ForDisplay(template, registered);
            StereoOverlay.WritePng(s, m, path, new OverlayOptions { Layout = OverlayLayout.ThreePanel, Axis = SliceAxis.Axial }, overwrite: true);
        }

        public void WriteGrid(DiffeomorphicMap map, Image template, string path)
        {
            // The axial plane of the display grid (anatomical axes, cubic voxels), as the overlay shows it.
            var (plane, dx, dy) = MapGrid.Sample(map.Domain, MapGrid.Of(map), SliceAxis.Axial, null);
            var underlay = template.Grid.SameAs(map.Domain) ? Slices.Extract(ExportStereoOverlayCommand.Display(template), SliceAxis.Axial, null) : null;
            DeformationGrid.WritePng(plane, dx, dy, path, new DeformationGridOptions { Underlay = underlay }, overwrite: true);
        }
    }
}
