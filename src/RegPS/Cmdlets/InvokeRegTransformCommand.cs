using System.Collections;
using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.Registration;
using RegPS.Engine.Resampling;
using RegPS.Engine.TransformFiles;
using RegPS.Engine.Transforms;

namespace RegPS.Cmdlets;

/// <summary>
/// Applies a list of transforms to an image in one resampling. The list is in the order the image travels through the
/// transforms (an ITK composite's queue order; the reverse of antsApplyTransforms' -t order), so a point of the output
/// grid goes through them from the last listed to the first. Each transform may be inverted
/// (-Invert mask, or a @(transform, $true) pair). -Reference sets the output grid, -DefaultValue the value outside
/// the input.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "RegTransform")]
[OutputType(typeof(RegPS.Engine.Images.Image))]
public sealed class InvokeRegTransformCommand : RegCmdlet
{
    // One parameter set, sorted out at run time. Both orders a user types put the image's position first when it is given
    // on the command line (`Invoke-RegTransform $img $map`), but `$img | Invoke-RegTransform $map` puts the map there:
    // PowerShell binds positional arguments before pipeline input, so position 0 cannot be typed Image. It takes any
    // object and BeginProcessing decides: an image (or a Deserialized image bag) is the image; anything else, with the
    // image coming from the pipeline (-InputObject), is the first of the transforms. (Two parameter sets, one per
    // order, bound positional property bags from a session without RegPS to the wrong set, so they are not used.)

    /// <summary>
    /// The image to transform, an Image or a property bag received through remoting. By position it is the first
    /// argument; when the image comes from the pipeline instead, the positional arguments are all transforms.
    /// </summary>
    [Parameter(Position = 0)]
    public object? Image { get; set; }

    /// <summary>
    /// The transforms, in the order the image travels through them (ITK composite order, the reverse of antsApplyTransforms' -t order): AffineMap,
    /// DiffeomorphicMap, TransformChain (Import-RegTransform), or file paths (.json, .txt, .tfm, .mat, .nii.gz, .h5).
    /// An element @(transform, $true) is inverted. A motion correction (Register-ImageSeries' result) applies volume t's
    /// motion to volume t of a 4D image with as many volumes.
    /// </summary>
    [Parameter(Position = 1)]
    [Alias("Map", "Path", "TransformPath")]
    public object[]? Transform { get; set; }

    /// <summary>The image(s) to transform, from the pipeline.</summary>
    [Parameter(ValueFromPipeline = true)]
    public Image? InputObject { get; set; }

    /// <summary>One flag per transform: $true inverts that transform (ANTs' [file,1]).</summary>
    [Parameter]
    public bool[]? Invert { get; set; }

    /// <summary>Invert the whole chain (the transforms reversed, each inverted): a map's static image onto its moving grid.</summary>
    [Parameter]
    public SwitchParameter Inverse { get; set; }

    /// <summary>
    /// The output grid: an image, a Grid, or @{ Shape = 91,109,91; Affine = 4x4 rows } (RAS grid-to-world). Default:
    /// the grid of the output side of the chain (a map's static grid, or its moving grid when inverted; a field's own grid).
    /// </summary>
    [Parameter]
    public object? Reference { get; set; }

    /// <summary>The value of output voxels whose point falls outside the input image (default 0).</summary>
    [Parameter]
    public float DefaultValue { get; set; }

    [Parameter]
    public Interpolation Interpolation { get; set; } = Interpolation.Linear;

    [Parameter]
    [ValidateRange(0, 1024)]
    public int MaxDegreeOfParallelism { get; set; }

    private readonly List<(object Item, bool Invert)> _items = new();
    private object[] _transforms = Array.Empty<object>();
    private RegPS.Engine.Images.Image? _image;
    private TransformChain _chain = null!;
    private Grid? _reference;
    private object? _singleMap;

    private MotionCorrectionResult? _motion;

    protected override void BeginProcessing()
    {
        SortArguments();
        if (Invert is not null && Invert.Length != _transforms.Length)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-Invert has {Invert.Length} flags for {_transforms.Length} transforms; give one flag per transform."),
                "InvertLengthMismatch", ErrorCategory.InvalidArgument, Invert));
        for (int i = 0; i < _transforms.Length; i++)
        {
            var (item, inv) = Unpair(_transforms[i]);
            _items.Add((Load(item), inv || (Invert?[i] ?? false)));
        }
        var motions = _items.Select(p => p.Item).OfType<MotionCorrectionResult>().Distinct().ToList();
        if (motions.Count > 1)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-Transform holds more than one motion correction; give one (it applies per volume)."),
                "SeveralMotionCorrections", ErrorCategory.InvalidArgument, _transforms));
        _motion = motions.FirstOrDefault();
        _chain = ChainFor(0);
        if (Reference is not null) _reference = ReferenceGrid(Reference);
        else _reference = DefaultGrid();
        // A lone RegPS map applied as registered keeps DIPY's semantics (zero-padded linear), as before.
        if (_items.Count == 1 && _items[0].Item is AffineMap or DiffeomorphicMap && Reference is null && DefaultValue == 0
            && Interpolation is Interpolation.Linear or Interpolation.Nearest && !_items[0].Invert)
            _singleMap = _items[0].Item;
        WriteVerbose("Output point -> input point: " + string.Join(" -> ", _chain.Steps.Reverse().Select(s => s.ToString())) +
            (_reference is null ? "" : $"; output grid {_reference}"));
    }

    /// <summary>
    /// Decides which argument is the image and which are the transforms. An image at position 0 (-Image) is the image and
    /// -Transform the transforms; anything else at position 0 is the first of the transforms, which needs the image from
    /// the pipeline (or -InputObject): `$img | Invoke-RegTransform $map`.
    /// </summary>
    private void SortArguments()
    {
        var rest = Transform ?? Array.Empty<object>();
        bool fromPipeline = MyInvocation.ExpectingInput || InputObject is not null;
        if (Image is null)
            _transforms = rest;
        else if (Remoting.DeserializingConverter.Unwrap(Image) is RegPS.Engine.Images.Image image)
        {
            if (InputObject is not null)
                ThrowTerminatingError(new ErrorRecord(new ArgumentException("The image is given twice, as -Image and as -InputObject; give one."),
                    "ImageGivenTwice", ErrorCategory.InvalidArgument, Image));
            _image = image;
            _transforms = rest;
        }
        else if (fromPipeline)
            _transforms = LanguagePrimitives.ConvertTo<object[]>(Image).Concat(rest).ToArray();
        else
        {
            var what = Image is PSObject p ? p.BaseObject.GetType().Name : Image.GetType().Name;
            ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                $"-Image (the first positional argument) takes an image, not a {what}. Give the image first (Invoke-RegTransform $img $map), " +
                "or pipe it and give the transforms by position ($img | Invoke-RegTransform $map); Get-NiftiImage reads an image from a file."),
                "InvalidImage", ErrorCategory.InvalidArgument, Image));
        }
        if (_transforms.Length == 0)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException(
                "No transform given: give -Transform, or the transforms by position after the image (Invoke-RegTransform $img $map), or first when the image comes from the pipeline ($img | Invoke-RegTransform $map). The pipeline takes images only."),
                "TransformMissing", ErrorCategory.InvalidArgument, null));
        if (_image is null && !fromPipeline)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("No image given: give -Image, or pipe the images ($img | Invoke-RegTransform $map)."),
                "ImageMissing", ErrorCategory.InvalidArgument, null));
    }

    /// <summary>The whole chain, with volume <paramref name="volume"/>'s map in place of a motion correction.</summary>
    private TransformChain ChainFor(int volume)
    {
        var parts = _items.Select(p => (Chain: AsChain(p.Item is MotionCorrectionResult mc ? mc.Maps[volume] : p.Item), p.Invert)).ToList();
        try
        {
            var chain = TransformChain.Concat(parts);
            return Inverse ? chain.Inverse() : chain;
        }
        catch (InvalidOperationException e)
        {
            ThrowTerminatingError(new ErrorRecord(e, "NotInvertible", ErrorCategory.InvalidArgument, _transforms));
            return null!;
        }
    }

    /// <summary>Volume t of the image through the chain with volume t's motion; the volumes stacked again (header and TR kept).</summary>
    private RegPS.Engine.Images.Image ApplyPerVolume(RegPS.Engine.Images.Image image, MotionCorrectionResult motion, Grid grid)
    {
        if (image.Volumes != motion.Volumes)
            throw new ArgumentException($"{(image.SourcePath is { } p ? $"'{p}'" : "The image")} has {image.Volumes} volume(s) but the motion correction of {motion.FileName} has {motion.Volumes}; "
                + "give a series of the same run (or one volume with -Transform $mc.Maps[t]).");
        int n = grid.VoxelCount;
        var data = new float[(long)n * image.Volumes];
        for (int t = 0; t < image.Volumes; t++)
        {
            StopToken.ThrowIfCancellationRequested();
            var one = ChainResampler.Apply(image.Volume(t), grid, ChainFor(t), Interpolation, DefaultValue, MaxDegreeOfParallelism, StopToken);
            Array.Copy(one.Buffer, 0, data, (long)t * n, n);
        }
        return new RegPS.Engine.Images.Image(grid, data, image.Volumes, null, image.SourcePath, image.DataType, image.SourceHeader);
    }

    protected override void ProcessRecord()
    {
        if (InputObject is not null && _image is not null)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("The image is given twice, as -Image (or the first positional argument) and from the pipeline; give the transforms only, e.g. $img | Invoke-RegTransform $map."),
                "ImageGivenTwice", ErrorCategory.InvalidArgument, InputObject));
        var image = InputObject ?? _image;
        if (image is null) return; // empty pipeline input
        try
        {
            if (_motion is not null)
            {
                var target = _reference ?? image.Grid;
                WriteObject(ApplyPerVolume(image, _motion, target));
                return;
            }
            if (_singleMap is not null)
            {
                WriteObject(MapApplier.Apply(_singleMap, image, Interpolation, Inverse, MaxDegreeOfParallelism));
                return;
            }
            var grid = _reference ?? throw new ArgumentException("The transforms carry no output grid (ITK affines do not); pass -Reference (an image, or @{ Shape = ...; Affine = ... }).");
            WriteObject(ChainResampler.Apply(image, grid, _chain, Interpolation, DefaultValue, MaxDegreeOfParallelism, StopToken));
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteInputError(e, "TransformFailed", image);
        }
    }

    private static (object Item, bool Invert) Unpair(object o)
    {
        var v = Remoting.DeserializingConverter.Unwrap(o);
        if (v is object[] { Length: 2 } pair && (pair[1] is PSObject ps ? ps.BaseObject : pair[1]) is bool b)
            return (Remoting.DeserializingConverter.Unwrap(pair[0])!, b);
        return (v!, false);
    }

    private object Load(object item)
    {
        string? path = item switch
        {
            string s => s,
            FileInfo f => f.FullName,
            _ => null,
        };
        if (path is null) return item;
        string full = path;
        try
        {
            full = GetResolvedProviderPathFromPSPath(path, out _).FirstOrDefault() ?? path;
            return TransformFile.IsManifest(full) ? MapFile.Load(full, StopToken) : TransformFile.Load(full, StopToken);
        }
        catch (ItemNotFoundException e)
        {
            ThrowTerminatingError(new ErrorRecord(e, "TransformNotFound", ErrorCategory.ObjectNotFound, path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            ThrowTerminatingError(new ErrorRecord(e, "TransformReadFailed", ErrorCategory.InvalidData, full));
        }
        return null!;
    }

    private TransformChain AsChain(object item)
    {
        try
        {
            return item switch
            {
                TransformStep s => new TransformChain(new[] { s }),
                _ => TransformChain.FromMap(item),
            };
        }
        catch (ArgumentException)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-Transform takes AffineMap, DiffeomorphicMap, TransformChain objects or transform file paths; got {item?.GetType().Name ?? "nothing"}."),
                "InvalidTransform", ErrorCategory.InvalidArgument, item));
            return null!;
        }
    }

    // The output side of the chain is the reference side of its last listed transform (applied first to output points).
    private Grid? DefaultGrid()
    {
        if (_items.Count == 0) return null;
        var (item, inv) = Inverse ? _items[0] : _items[^1];
        inv ^= Inverse;
        return item switch
        {
            MotionCorrectionResult m => m.Source.Grid,
            AffineMap a => inv ? a.Codomain : a.Domain,
            DiffeomorphicMap d => inv ? d.Codomain : d.Domain,
            TransformChain c when !inv && c.Steps.Count > 0 && c.Steps[^1] is DisplacementFieldStep f => f.Field.Grid,
            TransformChain c when inv && c.Steps.Count > 0 && c.Steps[0] is DisplacementFieldStep f => f.Field.Grid,
            _ => null,
        };
    }

    private Grid ReferenceGrid(object reference)
    {
        var v = reference is PSObject p ? p.BaseObject : reference;
        switch (v)
        {
            case RegPS.Engine.Images.Image image: return image.Grid;
            case Grid g: return g;
            case IDictionary h:
                try
                {
                    object? Get(string key) => h.Keys.Cast<object>().Where(k => string.Equals(k.ToString(), key, StringComparison.OrdinalIgnoreCase)).Select(k => h[k]).FirstOrDefault();
                    var shape = Numbers(Get("Shape")).Select(x => (int)x).ToArray();
                    var flat = Flatten(Get("Affine")).ToArray();
                    if (shape.Length is not (2 or 3)) throw new ArgumentException("Shape needs 2 or 3 sizes.");
                    if (flat.Length is not (12 or 16)) throw new ArgumentException("Affine needs a 4x4 (or 3x4) matrix, row by row.");
                    var m = flat.Length == 12 ? flat.Concat(new double[] { 0, 0, 0, 1 }).ToArray() : flat;
                    return shape.Length == 2 ? new Grid(shape[0], shape[1], 1, new Matrix4(m), 2) : new Grid(shape[0], shape[1], shape[2], new Matrix4(m), 3);
                }
                catch (Exception e) when (e is ArgumentException or InvalidCastException or FormatException or OverflowException)
                {
                    ThrowTerminatingError(new ErrorRecord(new ArgumentException("-Reference @{ Shape = nx,ny[,nz]; Affine = 4x4 rows }: " + e.Message, e), "InvalidReference", ErrorCategory.InvalidArgument, reference));
                    return null!;
                }
            default:
                ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-Reference takes an image, a Grid or @{{ Shape = ...; Affine = ... }}; got {v?.GetType().Name ?? "nothing"}."),
                    "InvalidReference", ErrorCategory.InvalidArgument, reference));
                return null!;
        }
    }

    private static IEnumerable<double> Numbers(object? o) => Flatten(o);

    private static IEnumerable<double> Flatten(object? o)
    {
        var v = o is PSObject p ? p.BaseObject : o;
        if (v is null) throw new ArgumentException("missing value");
        if (v is Matrix4 m) { foreach (var x in m.ToArray()) yield return x; yield break; }
        if (v is IEnumerable e and not string)
        {
            foreach (var x in e) foreach (var y in Flatten(x)) yield return y;
            yield break;
        }
        yield return Convert.ToDouble(v, System.Globalization.CultureInfo.InvariantCulture);
    }
}
