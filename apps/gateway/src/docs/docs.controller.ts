// GET /asyncapi.json: the socket protocol's AsyncAPI document (the OpenAPI one is served at /docs by SwaggerModule).
import { Controller, Get } from '@nestjs/common';
import { Access } from '../auth/access.decorator.js';
import { asyncApiDocument } from './asyncapi.js';

@Controller()
@Access('public')
export class DocsController {
  private readonly document = asyncApiDocument();

  @Get('asyncapi.json')
  asyncapi(): Record<string, unknown> {
    return this.document;
  }
}
