using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.Registration;
using RegPS.Engine.Resampling;

namespace RegPS;

/// <summary>Applies whatever registration result a user passes (AffineMap, DiffeomorphicMap) to an image.</summary>
internal static class MapApplier
{
    public static Image Apply(object? map, Image image, Interpolation interpolation, bool inverse, int maxDegree)
    {
        var value = Remoting.DeserializingConverter.Unwrap(map);
        return value switch
        {
            null => image,
            AffineMap a => inverse ? a.TransformInverse(image, interpolation, maxDegree) : a.Transform(image, interpolation, maxDegree),
            DiffeomorphicMap d => inverse ? d.TransformInverse(image, interpolation, maxDegree) : d.Transform(image, interpolation, maxDegree),
            _ => throw new ArgumentException($"-Map takes an AffineMap or a DiffeomorphicMap (the output of Register-AffineImage or Register-SynImage); got {value.GetType().Name}."),
        };
    }
}
